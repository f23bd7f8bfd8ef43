"""The plan PostgreSQL runs for a statement of ours."""

from __future__ import annotations

from piccolo.querystring import QueryString

from definewtf.db import compile_querystring, current_engine


async def generic_plan(statement: QueryString) -> str:
    """PostgreSQL's EXPLAIN of its plan for `statement` made without the values bound: the
    plan a connection that plans once runs (`definewtf.db.planned_once`)."""
    sql, args = compile_querystring(statement)
    engine = current_engine()
    async with engine.transaction():
        await engine.run_ddl("SET LOCAL plan_cache_mode = force_generic_plan")
        await engine.run_ddl(f"PREPARE observed AS {sql}")
        # A generic plan is the same whatever is bound: NULLs stand for the values.
        rows = await engine.run_ddl(f"EXPLAIN EXECUTE observed({', '.join(['NULL'] * len(args))})")
        await engine.run_ddl("DEALLOCATE observed")
    return "\n".join(row["QUERY PLAN"] for row in rows)
