"""Allow `python -m qa_scoring`."""

from qa_scoring.cli import main

if __name__ == "__main__":
    main()
