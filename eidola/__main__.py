from eidola.hugepages import main

main()
