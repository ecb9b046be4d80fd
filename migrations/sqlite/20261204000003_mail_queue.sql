-- Outgoing mail, queued in the transaction that causes it and sent by the mail worker.
--
-- The bodies can contain a registration link, which is a credential, so the worker clears them
-- once the mail is sent or given up. Until then they are stored in plain text.

CREATE TABLE mail_queue (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    -- The invitation the mail carries, if any. No foreign key: invitations are created by a
    -- later migration.
    invitation_id TEXT,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    -- 'pending', 'sent', or 'failed' when the worker gave up.
    status TEXT NOT NULL,
    -- Delivery attempts started, counted when a worker claims the mail.
    attempts INTEGER NOT NULL DEFAULT 0,
    -- When a pending mail is due. A worker that claims the mail moves it forward by a lease, so
    -- other workers skip it while it is being sent.
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX mail_queue_status_due ON mail_queue (status, next_attempt_at);
CREATE INDEX mail_queue_invitation ON mail_queue (invitation_id);
