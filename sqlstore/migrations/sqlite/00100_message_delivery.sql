-- delivery is the message's delivery record (envoi.Delivery as JSON):
-- envelope, the identity that authenticates, the transport, the document
-- and where its bytes are in the composed message, and the archive
-- decision, all decided at acceptance and stored whole. It replaces
-- envelope_from, envelope_to and username, no longer written. Messages
-- accepted before get a record made of those columns and of their file-name
-- rule of today; they have no document located (their .eml is archived).

-- +goose Up
ALTER TABLE messages ADD COLUMN delivery TEXT NOT NULL DEFAULT '';
UPDATE messages SET delivery = json_object(
    'transport', 'smtp',
    'envelope', json_object('from', envelope_from, 'recipients', json(envelope_to), 'size', eml_size),
    'identity', json_object('key', json_object('Flow', flow, 'Operator', mailbox), 'username', username, 'operator', operator),
    'archive', CASE WHEN entity_type <> '' AND EXISTS (SELECT 1 FROM file_name_rules r WHERE r.document_flow = messages.document_flow AND r.archive <> 0)
        THEN json('true') ELSE json('false') END,
    'file_type', coalesce((SELECT r.file_type FROM file_name_rules r WHERE r.document_flow = messages.document_flow), ''));

-- +goose Down
ALTER TABLE messages DROP COLUMN delivery;
