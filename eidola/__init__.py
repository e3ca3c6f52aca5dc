"""Eidola: replay annotated GPU kernel profiles as peer-to-peer traffic over a modelled interconnect."""

__version__ = "0.1.0"
