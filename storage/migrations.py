"""Schema migrations, oldest first. The store's PRAGMA user_version counts how many have run.

Never edit a migration that has shipped: add a new one at the end.
"""

MIGRATIONS: list[str] = [
    # 1: failures, poll state, alert groups, outbox, digest runs
    """
    CREATE TABLE failures (
        sid TEXT PRIMARY KEY,
        account_sid TEXT NOT NULL,
        service_sid TEXT,
        sender TEXT,
        recipient TEXT,
        status TEXT NOT NULL,
        error_code INTEGER NOT NULL,
        sent_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('poll', 'callback', 'import'))
    );
    CREATE INDEX failures_by_time ON failures (sent_at, error_code, account_sid);
    CREATE INDEX failures_by_code ON failures (error_code, sent_at);

    CREATE TABLE poll_state (
        account_sid TEXT PRIMARY KEY,
        friendly_name TEXT,
        last_pass_at INTEGER,
        last_sweep_at INTEGER,
        last_ok_at INTEGER,
        last_error TEXT
    );

    CREATE TABLE alert_groups (
        key TEXT PRIMARY KEY,
        account_sid TEXT NOT NULL,
        error_code INTEGER NOT NULL,
        service_sid TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL,
        count INTEGER NOT NULL DEFAULT 0,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        posted_at INTEGER,
        resolved_at INTEGER,
        slack_channel TEXT,
        slack_ts TEXT,
        acked_by TEXT,
        acked_at INTEGER,
        snoozed_until INTEGER
    );

    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        dedupe_key TEXT NOT NULL UNIQUE,
        destination TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        sent_at INTEGER,
        response_ts TEXT,
        last_error TEXT
    );
    CREATE INDEX outbox_due ON outbox (sent_at, next_attempt_at);

    CREATE TABLE digest_runs (
        period TEXT PRIMARY KEY,
        ran_at INTEGER NOT NULL,
        failures INTEGER NOT NULL
    );
    """,
    # 2: the leader lease, and outbox claims dated from the claim instead of a pid in last_error
    """
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        expires_at REAL NOT NULL,
        acquired_at REAL NOT NULL
    );

    ALTER TABLE outbox ADD COLUMN claim TEXT;
    ALTER TABLE outbox ADD COLUMN claimed_at REAL;
    ALTER TABLE outbox ADD COLUMN settle_at REAL;
    UPDATE outbox SET last_error = 'outcome unknown: ' || last_error
        WHERE sent_at IS NULL AND last_error LIKE 'in flight by %';
    """,
    # 3: an alert group's post is named for no transport: which destination took it, where, its reference
    """
    ALTER TABLE alert_groups RENAME COLUMN slack_channel TO post_channel;
    ALTER TABLE alert_groups RENAME COLUMN slack_ts TO post_ref;
    ALTER TABLE alert_groups ADD COLUMN post_destination TEXT;
    UPDATE alert_groups SET post_destination = 'slack' WHERE post_ref IS NOT NULL;
    """,
    # 4: who snoozed a group, and how many failures the channel has not heard of because of it;
    # snoozes that ended before this version said nothing when they did, and now stay silent
    """
    ALTER TABLE alert_groups ADD COLUMN snoozed_by TEXT;
    ALTER TABLE alert_groups ADD COLUMN snooze_missed INTEGER NOT NULL DEFAULT 0;
    UPDATE alert_groups SET snoozed_until = NULL WHERE snoozed_until <= CAST(strftime('%s', 'now') AS INTEGER);
    """,
    # 5: Event Streams: 'event' joins the failure sources (SQLite cannot alter a CHECK: the table
    # is rebuilt with its rows and indexes; SELECT * fails loudly should the columns ever differ),
    # the ids of events already taken (a redelivery changes nothing), and the last sink test
    # event each account received (`smserror streams setup` validates the sink with its id)
    """
    CREATE TABLE failures_rebuilt (
        sid TEXT PRIMARY KEY,
        account_sid TEXT NOT NULL,
        service_sid TEXT,
        sender TEXT,
        recipient TEXT,
        status TEXT NOT NULL,
        error_code INTEGER NOT NULL,
        sent_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('poll', 'callback', 'import', 'event'))
    );
    INSERT INTO failures_rebuilt SELECT * FROM failures;
    DROP TABLE failures;
    ALTER TABLE failures_rebuilt RENAME TO failures;
    CREATE INDEX failures_by_time ON failures (sent_at, error_code, account_sid);
    CREATE INDEX failures_by_code ON failures (error_code, sent_at);

    CREATE TABLE stream_events (
        id TEXT PRIMARY KEY,
        received_at INTEGER NOT NULL
    );
    CREATE INDEX stream_events_by_time ON stream_events (received_at);

    CREATE TABLE sink_tests (
        account_sid TEXT PRIMARY KEY,
        test_id TEXT NOT NULL,
        received_at INTEGER NOT NULL
    );
    """,
    # 6: when an account's Event Streams sink was last seen working (`smserror streams setup` or
    # `status` found it active, or one of its deliveries arrived): the poller then only sweeps it hourly
    """
    ALTER TABLE poll_state ADD COLUMN stream_seen_at INTEGER;
    """,
]
