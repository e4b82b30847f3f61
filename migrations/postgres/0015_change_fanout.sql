-- Several nodes on one PostgreSQL (issue 16): every committed change other nodes must learn
-- about is announced with pg_notify on channel 'govmail', from triggers, so the notification is
-- part of the writing transaction and is delivered only if it commits (and every writer —
-- server, admin CLI — announces without doing anything). Payload: '<kind> <node> <a> <b>' with
-- node = the writer's `govmail.node` setting ('-' when unset, e.g. psql), so a node can skip its
-- own echo. Kinds: f = folder changed (account id, folder id: new mail, flags, expunge — every
-- such change raises highestmodseq or uidnext), a = account session epoch (account id, epoch:
-- disable, leave, password change, revoke), r = rights on unit mailboxes, d = directory
-- (domains, units, addresses). Additive only: nodes of the previous release ignore it.
CREATE FUNCTION govmail_node() RETURNS TEXT LANGUAGE sql STABLE AS
$$ SELECT COALESCE(NULLIF(current_setting('govmail.node', true), ''), '-') $$;

CREATE FUNCTION govmail_notify_folder() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.highestmodseq IS DISTINCT FROM OLD.highestmodseq
       OR NEW.uidnext IS DISTINCT FROM OLD.uidnext THEN
        PERFORM pg_notify('govmail', 'f ' || govmail_node() || ' ' || NEW.account_id || ' ' || NEW.id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER folders_notify AFTER UPDATE ON folders
    FOR EACH ROW EXECUTE FUNCTION govmail_notify_folder();

CREATE FUNCTION govmail_notify_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.session_epoch IS DISTINCT FROM OLD.session_epoch THEN
        PERFORM pg_notify('govmail', 'a ' || govmail_node() || ' ' || NEW.id || ' ' || NEW.session_epoch);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER accounts_notify AFTER UPDATE ON accounts
    FOR EACH ROW EXECUTE FUNCTION govmail_notify_account();

CREATE FUNCTION govmail_notify_kind() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('govmail', TG_ARGV[0] || ' ' || govmail_node() || ' 0 0');
    RETURN NULL;
END $$;

CREATE TRIGGER mailbox_acl_notify AFTER INSERT OR UPDATE OR DELETE ON mailbox_acl
    FOR EACH STATEMENT EXECUTE FUNCTION govmail_notify_kind('r');
CREATE TRIGGER domains_notify AFTER INSERT OR UPDATE OR DELETE ON domains
    FOR EACH STATEMENT EXECUTE FUNCTION govmail_notify_kind('d');
CREATE TRIGGER units_notify AFTER INSERT OR UPDATE OR DELETE ON units
    FOR EACH STATEMENT EXECUTE FUNCTION govmail_notify_kind('d');
CREATE TRIGGER addresses_notify AFTER INSERT OR UPDATE OR DELETE ON addresses
    FOR EACH STATEMENT EXECUTE FUNCTION govmail_notify_kind('d');
