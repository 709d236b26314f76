-- config_version counts the changes of the configuration the store caches
-- (cache.go): flows and their assignments, operators and groups, companies,
-- document flows, mail settings and file-name rules. A trigger on each of
-- those tables bumps it in the transaction that writes, whatever process
-- writes (envoi apply and envoi keys rotate run beside envoi serve), so a
-- cached value read at the current version is the stored value. Nothing
-- written per message has a trigger. SQLite's triggers run for each row: a
-- change of several rows bumps the version several times, which is as good.

-- +goose Up
CREATE TABLE config_version (
    n INTEGER NOT NULL
);
INSERT INTO config_version (n) VALUES (1);

-- +goose StatementBegin
CREATE TRIGGER companies_insert_config_version AFTER INSERT ON companies BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER companies_update_config_version AFTER UPDATE ON companies BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER companies_delete_config_version AFTER DELETE ON companies BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER operator_groups_insert_config_version AFTER INSERT ON operator_groups BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER operator_groups_update_config_version AFTER UPDATE ON operator_groups BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER operator_groups_delete_config_version AFTER DELETE ON operator_groups BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER operators_insert_config_version AFTER INSERT ON operators BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER operators_update_config_version AFTER UPDATE ON operators BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER operators_delete_config_version AFTER DELETE ON operators BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER auth_flows_insert_config_version AFTER INSERT ON auth_flows BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER auth_flows_update_config_version AFTER UPDATE ON auth_flows BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER auth_flows_delete_config_version AFTER DELETE ON auth_flows BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER auth_flow_operators_insert_config_version AFTER INSERT ON auth_flow_operators BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER auth_flow_operators_update_config_version AFTER UPDATE ON auth_flow_operators BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER auth_flow_operators_delete_config_version AFTER DELETE ON auth_flow_operators BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER auth_flow_groups_insert_config_version AFTER INSERT ON auth_flow_groups BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER auth_flow_groups_update_config_version AFTER UPDATE ON auth_flow_groups BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER auth_flow_groups_delete_config_version AFTER DELETE ON auth_flow_groups BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER document_flows_insert_config_version AFTER INSERT ON document_flows BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER document_flows_update_config_version AFTER UPDATE ON document_flows BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER document_flows_delete_config_version AFTER DELETE ON document_flows BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER mail_settings_insert_config_version AFTER INSERT ON mail_settings BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER mail_settings_update_config_version AFTER UPDATE ON mail_settings BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER mail_settings_delete_config_version AFTER DELETE ON mail_settings BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER file_name_rules_insert_config_version AFTER INSERT ON file_name_rules BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER file_name_rules_update_config_version AFTER UPDATE ON file_name_rules BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER file_name_rules_delete_config_version AFTER DELETE ON file_name_rules BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER companies_insert_config_version;
DROP TRIGGER companies_update_config_version;
DROP TRIGGER companies_delete_config_version;
DROP TRIGGER operator_groups_insert_config_version;
DROP TRIGGER operator_groups_update_config_version;
DROP TRIGGER operator_groups_delete_config_version;
DROP TRIGGER operators_insert_config_version;
DROP TRIGGER operators_update_config_version;
DROP TRIGGER operators_delete_config_version;
DROP TRIGGER auth_flows_insert_config_version;
DROP TRIGGER auth_flows_update_config_version;
DROP TRIGGER auth_flows_delete_config_version;
DROP TRIGGER auth_flow_operators_insert_config_version;
DROP TRIGGER auth_flow_operators_update_config_version;
DROP TRIGGER auth_flow_operators_delete_config_version;
DROP TRIGGER auth_flow_groups_insert_config_version;
DROP TRIGGER auth_flow_groups_update_config_version;
DROP TRIGGER auth_flow_groups_delete_config_version;
DROP TRIGGER document_flows_insert_config_version;
DROP TRIGGER document_flows_update_config_version;
DROP TRIGGER document_flows_delete_config_version;
DROP TRIGGER mail_settings_insert_config_version;
DROP TRIGGER mail_settings_update_config_version;
DROP TRIGGER mail_settings_delete_config_version;
DROP TRIGGER file_name_rules_insert_config_version;
DROP TRIGGER file_name_rules_update_config_version;
DROP TRIGGER file_name_rules_delete_config_version;
DROP TABLE config_version;
