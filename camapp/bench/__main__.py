"""`python -m camapp.bench`: the offline benchmark (see main.py)."""

from camapp.bench.main import main

if __name__ == "__main__":
    raise SystemExit(main())
