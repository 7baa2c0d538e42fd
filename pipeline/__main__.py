"""``python -m pipeline`` runs the command line."""

from pipeline.cli import entry

if __name__ == "__main__":
    entry()
