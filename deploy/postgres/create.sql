-- helpline's database and role on PostgreSQL (15 or newer). Run once, as the postgres superuser, on the database
-- host:
--
--   sudo -u postgres psql -v ON_ERROR_STOP=1 -v password="$(cat /root/helpline-db-password)" -f create.sql
--
-- Optional variables: -v role=NAME -v db=NAME (both default to helpline), -v connection_limit=N (default 60).
-- helpline then connects with postgres://helpline:PASSWORD@DBHOST:5432/helpline (a secret: [database] url_file).

\if :{?role}
\else
  \set role helpline
\endif
\if :{?db}
\else
  \set db helpline
\endif
\if :{?connection_limit}
\else
  -- per instance: [database] pool_max (10) + one per [[pbx]] (the leadership lock's own connection) + a few for
  -- migrations and `helpline` commands run by hand; three instances with two PBXs: 3 x (10 + 2 + 3) = 45.
  \set connection_limit 60
\endif
\if :{?password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'set the role''s password: psql -v password=...'; END $$;
\endif

CREATE ROLE :"role" LOGIN PASSWORD :'password' CONNECTION LIMIT :connection_limit;

-- The role owns its database, so it can create the schema (`helpline db upgrade`): since PostgreSQL 15 ordinary
-- roles may no longer create tables in another owner's public schema. UTF-8 whatever the cluster's default.
CREATE DATABASE :"db" OWNER :"role" ENCODING 'UTF8' LOCALE 'C.UTF-8' TEMPLATE template0;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
\connect :"db"
ALTER SCHEMA public OWNER TO :"role";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
