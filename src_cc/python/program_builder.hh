// Building replay programs on a worker thread while the Python side feeds the next GPU.
//
// Why: loading a large profile is two halves that used to take turns on one core: Python
// reads and checks a GPU's ops (holding the GIL), then GpuProgram::build converts them. Build
// touches only the op bytes, never a Python object, so it can run beside the next GPU's
// reading and checking. Jobs run in submission order on one thread; the destructor joins it
// (also when the feeding loop stops on an error: queued jobs still run, results are dropped).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "core/replay/program.hh"

namespace eidola {

class ProgramBuilder {
  public:
    ProgramBuilder() : worker_([this] { work(); }) {}
    ProgramBuilder(const ProgramBuilder&) = delete;
    ProgramBuilder& operator=(const ProgramBuilder&) = delete;
    // Joins the worker; call without holding a lock the jobs need (they need none).
    ~ProgramBuilder() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            stop_ = true;
        }
        ready_.notify_one();
        worker_.join();
    }
    std::future<GpuProgram> submit(std::function<GpuProgram()> fn) {
        std::packaged_task<GpuProgram()> task(std::move(fn));
        std::future<GpuProgram> result = task.get_future();
        {
            std::lock_guard<std::mutex> lock(mu_);
            jobs_.push_back(std::move(task));
        }
        ready_.notify_one();
        return result;
    }

  private:
    void work() {
        for (;;) {
            std::packaged_task<GpuProgram()> task;
            {
                std::unique_lock<std::mutex> lock(mu_);
                ready_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
                if (jobs_.empty()) return;  // stopping, and nothing left to run
                task = std::move(jobs_.front());
                jobs_.pop_front();
            }
            task();  // an exception is kept in the task's future
        }
    }
    std::mutex mu_;
    std::condition_variable ready_;
    std::deque<std::packaged_task<GpuProgram()>> jobs_;
    bool stop_ = false;
    std::thread worker_;  // last: it starts once the members it uses exist
};

}  // namespace eidola
