"""Great Expectations quality gates on the source tables, run before dbt builds the analytics."""
