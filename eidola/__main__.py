from eidola.cli import main

main()
