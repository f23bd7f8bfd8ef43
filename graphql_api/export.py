"""Write the schema the frontend builds on to `schema.graphql` (checked in; a test fails when
it drifts from the code): `python -m graphql_api.export`."""

from __future__ import annotations

from pathlib import Path

from graphql_api.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def schema_text() -> str:
    return schema.as_str() + "\n"


def main() -> None:
    SCHEMA_FILE.write_text(schema_text())
    print(f"wrote {SCHEMA_FILE}")


if __name__ == "__main__":
    main()
