"""How fast the sandbox takes the CRM writeback: composite upserts by external id, in batches of 200.

    python -m bench.sandbox_upserts [--records 40000]

Starts a scale-1 sandbox and sends ``--records`` new ``Q2C_Invoice_Status__c`` records through
q2c's Salesforce sink (``reverse_etl.sinks.salesforce``), printing the cumulative time at every
10,000. Each upsert looks its record up by external id: a flat line of cumulative times means
the lookup is indexed (linear in records), a steepening one means a scan per upsert.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_upserts", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=40_000)
    args = parser.parse_args()

    from ingestion.salesforce.helpers import SalesforceClient
    from reverse_etl.sinks import Change
    from reverse_etl.sinks.salesforce import SalesforceUpsertSink
    from sandbox.server import DEFAULT_CREDENTIALS, Sandbox

    with Sandbox(Path(tempfile.mkdtemp(prefix="q2c-upserts-")), seed=42, scale=1.0) as sb:
        os.environ["REQUESTS_CA_BUNDLE"] = str(sb.ca_bundle)  # it overrides a session's verify (stack-notes, 6)
        creds = DEFAULT_CREDENTIALS["salesforce"]
        client = SalesforceClient(sb.urls["salesforce"], creds["client_id"], creds["client_secret"],
                                  ca_bundle=str(sb.ca_bundle))
        sink = SalesforceUpsertSink(client, "Q2C_Invoice_Status__c", "Q2C_Invoice_Id__c")
        started = time.perf_counter()
        for start in range(0, args.records, sink.batch_size):
            sink.send([Change(external_id=f"INV-{i}", payload={"Name": f"INV-{i}", "Payment_Status__c": "open"},
                              content_hash="h", target_id=None, operation="create")
                       for i in range(start, min(args.records, start + sink.batch_size))])
            done = min(args.records, start + sink.batch_size)
            if done % 10_000 == 0 or done == args.records:
                elapsed = time.perf_counter() - started
                print(f"{done:>8,} records: {elapsed:6.1f} s ({done / elapsed:,.0f} records/s)", flush=True)


if __name__ == "__main__":
    main()
