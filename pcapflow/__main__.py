from pcapflow.cli import run

run()
