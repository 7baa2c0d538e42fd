"""Email each site's report to its stakeholders, one job per module.

Imports run downwards only::

    send.py        orchestration: which sites, to whom (one message per recipient), what changed
      ├── ledger.py    what was sent to whom (send-ledger.json), one ``send`` per run at a time
      ├── changes.py   what a report says that is worth a message (``--only-changed``)
      ├── smtp.py      settings from kaizen.yaml and the environment, connection, password or
      │                XOAUTH2 login, retries, ambiguous replies
      ├── failures.py  the failure email for the error recipients
      └── compose.py   the stakeholder message: subject, headers, MIME tree, attachment
            └── body.py      the HTML and plain-text parts (templates/*.j2, style.py's colours)
                  └── summary.py   the run folder and what results.json says (the body's context)
    addresses.py   the sender; mailboxes and header text from data/addresses.py (used by all of
                   the above; validate checks kaizen.yaml's addresses with the same parser)
"""

from pipeline.delivery.send import MessageOutcome, SendResult, send_run

__all__ = ["MessageOutcome", "SendResult", "send_run"]
