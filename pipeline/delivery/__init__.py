"""Email each site's report to its stakeholders, one job per module.

Imports run downwards only::

    send.py        orchestration: which sites, to whom, in which order; the send result
      ├── ledger.py    what was sent to whom (send-ledger.json), one ``send`` per run at a time
      ├── smtp.py      settings from kaizen.yaml and the environment, connection, auth, retries
      ├── failures.py  the failure email for the error recipients
      └── compose.py   the stakeholder message: headers, MIME tree, attachment
            └── body.py      the HTML and plain-text parts
                  └── summary.py   the run folder and what results.json says (the body's context)
    addresses.py   mailboxes and header text (used by all of the above)
"""

from pipeline.delivery.send import MessageOutcome, SendResult, send_run

__all__ = ["MessageOutcome", "SendResult", "send_run"]
