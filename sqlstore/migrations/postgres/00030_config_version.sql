-- config_version counts the changes of the configuration the store caches
-- (cache.go): flows and their assignments, operators and groups, companies,
-- document flows, mail settings and file-name rules. A trigger on each of
-- those tables bumps it in the transaction that writes, whatever instance
-- or process writes, so a cached value read at the current version is the
-- stored value. Nothing written per message has a trigger.
--
-- The triggers run BEFORE each statement: the update locks the one row of
-- config_version until the transaction ends, and taking that lock before
-- the statement locks any configuration row keeps one order of locks
-- (version first) between writers, so they queue instead of deadlocking.
-- The store's transactions of several statements take it first themselves
-- (configTx in cache.go).

-- +goose Up
CREATE TABLE config_version (
    n BIGINT NOT NULL
);
INSERT INTO config_version (n) VALUES (1);

-- +goose StatementBegin
CREATE FUNCTION bump_config_version() RETURNS trigger AS $$
BEGIN
    UPDATE config_version SET n = n + 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

CREATE TRIGGER companies_config_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON companies
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER operator_groups_config_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON operator_groups
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER operators_config_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON operators
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER auth_flows_config_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth_flows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER auth_flow_operators_config_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth_flow_operators
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER auth_flow_groups_config_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth_flow_groups
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER document_flows_config_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON document_flows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER mail_settings_config_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON mail_settings
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER file_name_rules_config_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON file_name_rules
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();

-- +goose Down
DROP TRIGGER companies_config_version ON companies;
DROP TRIGGER operator_groups_config_version ON operator_groups;
DROP TRIGGER operators_config_version ON operators;
DROP TRIGGER auth_flows_config_version ON auth_flows;
DROP TRIGGER auth_flow_operators_config_version ON auth_flow_operators;
DROP TRIGGER auth_flow_groups_config_version ON auth_flow_groups;
DROP TRIGGER document_flows_config_version ON document_flows;
DROP TRIGGER mail_settings_config_version ON mail_settings;
DROP TRIGGER file_name_rules_config_version ON file_name_rules;
DROP FUNCTION bump_config_version();
DROP TABLE config_version;
