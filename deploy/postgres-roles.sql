-- Two roles for TelePay's Postgres database (docs/storage.md, "Postgres roles").
-- Run once, in the telepay database, as its owner or a superuser (RDS: the master user):
--   psql "$ADMIN_DATABASE_URL" -f deploy/postgres-roles.sql
-- then give each role its password:
--   ALTER ROLE telepay_migrator PASSWORD '...';  ALTER ROLE telepay_runtime PASSWORD '...';
--
-- telepay_migrator owns the schema's tables: `telepay migrate` connects as it.
-- telepay_runtime is what the functions and `telepay serve` connect as: it reads and
-- writes rows, and cannot create, alter or drop anything.

CREATE ROLE telepay_migrator LOGIN;
CREATE ROLE telepay_runtime LOGIN;

GRANT USAGE, CREATE ON SCHEMA public TO telepay_migrator;
GRANT USAGE ON SCHEMA public TO telepay_runtime;

-- Tables and sequences the migrator creates from now on.
ALTER DEFAULT PRIVILEGES FOR ROLE telepay_migrator IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO telepay_runtime;
ALTER DEFAULT PRIVILEGES FOR ROLE telepay_migrator IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO telepay_runtime;

-- Tables an earlier setup created under another role.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO telepay_runtime;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO telepay_runtime;
