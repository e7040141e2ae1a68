from pcapflow.cli import main

main()
