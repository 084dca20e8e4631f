"""``python -m genzoo ...`` runs the command line, as ``genzoo ...`` does."""

from .cli import entry

if __name__ == "__main__":
    entry()
