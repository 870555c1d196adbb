from keyprov.cli import main

main()
