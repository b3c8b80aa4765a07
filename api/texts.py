"""Every route's summary and description in business words, shown by /docs and /redoc.

One table, applied to the OpenAPI document when it is built, so the route modules stay thin and a route
without its words fails `tests/core/test_api_texts.py`. A route's own docstring, when it has one, stays its
description (then the entry's description is empty). Error answers are described once, on every operation:
the body `{"status", "type", "reason"}` (`ErrorBody`, api/errors.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

T = dict[tuple[str, str], tuple[str, str]]

ROUTE_TEXTS: T = {
    ("POST", "/auth/token"): ("Sign in", ""),
    ("POST", "/auth/refresh"): ("Renew a session", ""),
    ("GET", "/me"): ("Who am I", "The signed-in caller as the API sees them: id, roles, department or agent scope, "
                                "and every permission those roles give."),
    ("POST", "/merchants/{merchant_id}/api-keys"): ("Issue a merchant API key", ""),
    ("GET", "/merchants/{merchant_id}/api-keys"): ("List a merchant's API keys",
                                                   "Every key of the merchant by its visible prefix, with when it was "
                                                   "issued, last used and revoked; never the key itself."),
    ("DELETE", "/merchants/{merchant_id}/api-keys/{prefix}"): ("Revoke a merchant API key",
                                                               "The key stops working at once; the merchant's other "
                                                               "keys stay valid (rotation)."),
    ("GET", "/audit"): ("Read the audit log", ""),
    ("GET", "/audit.csv"): ("Export the audit log", "The same filters as the audit log, as a CSV file for auditors."),
    ("POST", "/orders"): ("Place an order", "An agent orders a SIM card for a customer. The same Idempotency-Key "
                                            "twice returns the same order; a suspended agent is refused. The order's "
                                            "process (the five conditions up to commission) starts at once."),
    ("GET", "/orders"): ("List orders", "Orders by status, carrier, agent, failure reason or settlement month, "
                                        "newest first; agents see only their own."),
    ("GET", "/orders/{order_id}"): ("One order and its checklist",
                                    "The order with its live five-condition checklist (a time per link), what it "
                                    "waits for and until when, or why it failed; from the database row when the "
                                    "process does not answer. With the recipient and real-name holder (masked "
                                    "unless revealed), the carrier's answer to the order and a paid order's payment "
                                    "with its refund."),
    ("POST", "/stock/imports"): ("Import numbers into the stock",
                                 "A CSV file `msisdn,product_id` (ops). All or nothing: a malformed number, an unknown "
                                 "product, a number twice in the file or already in the stock refuses the file, "
                                 "each bad line named with its line number."),
    ("GET", "/stock/numbers"): ("Numbers one may choose",
                                "Available numbers of a product, with simple pattern filters (starts with, ends "
                                "with, contains, without a digit). Placing an order with one reserves it; staff may "
                                "list any state."),
    ("GET", "/stock/levels"): ("Stock levels per product",
                               "Numbers per product in each state, as of now, and whether the product is below its "
                               "low-stock level."),
    ("GET", "/stock/alerts"): ("Low-stock alerts",
                               "One alert per product and day when fewer numbers are available than the low-stock "
                               "level, newest first."),
    ("GET", "/stock/report.{fmt}"): ("Stock report", "Stock levels per product and state as a CSV or XLSX file."),
    ("POST", "/carrier-events"): ("Carrier or courier pushes one event",
                                  "Shipment, delivery, activation, recharge, suspension or cancellation of one order, "
                                  "signed with the sender's shared key. Stored first; a duplicate, an unknown order or "
                                  "a malformed event each gets its own answer."),
    ("GET", "/carrier-events"): ("List carrier events", "Every event a carrier or courier pushed, with its outcome "
                                                        "(accepted, duplicate, unknown order, rejected, order closed)."),
    ("POST", "/carrier-events/batch"): ("Carrier pushes a batch of events",
                                        "JSON lines or the carrier's daily CSV status file; each line is accepted or "
                                        "refused on its own."),
    ("GET", "/settlements"): ("List settlement batches", "Each carrier's monthly batch: pages of audit applied, "
                                                         "orders settled and failed, commission paid and held."),
    ("GET", "/settlements/{batch_id}"): ("One settlement batch", "The batch with every agent's statement."),
    ("GET", "/agents/{agent_id}/statements"): ("An agent's statements", "The agent's monthly statements across "
                                                                        "carriers: orders settled and failed, "
                                                                        "commission, held and paid."),
    ("GET", "/agents/{agent_id}/statements/{month}.csv"): ("Export a statement (CSV)", ""),
    ("GET", "/agents/{agent_id}/statements/{month}.xlsx"): ("Export a statement (Excel)",
                                                            "The same rows as the CSV export, as an Excel workbook."),
    ("GET", "/agents/{agent_id}"): ("One agent", "The agent's status, why, its parent, and its history of status "
                                                 "changes."),
    ("POST", "/agents/{agent_id}/suspend"): ("Suspend an agent", ""),
    ("POST", "/agents/{agent_id}/reinstate"): ("Reinstate an agent", ""),
    ("POST", "/agents/{agent_id}/appeal"): ("Appeal a suspension", ""),
    ("POST", "/complaints"): ("Register a complaint", "The ticket gets its level (and why) and its due time in "
                                                      "working hours; the same Idempotency-Key twice returns the same "
                                                      "ticket. Its process (warnings, overdue notices, survey) starts."),
    ("GET", "/complaints"): ("List complaints", "Tickets by state, level, department, type or due time; a "
                                                "department's handler sees its department's."),
    ("GET", "/complaints/calendar/{year}"): ("A year's working-day schedule",
                                             "The holidays and make-up working days complaint due times use, and "
                                             "whether the year runs on the official schedule or an estimate."),
    ("PUT", "/complaints/calendar/{year}"): ("Load a year's working-day schedule", ""),
    ("GET", "/complaints/alerts"): ("Ops alerts of the complaint desk", "Warnings for ops, such as next year's "
                                                                        "working-day schedule still missing."),
    ("GET", "/complaints/kpis"): ("Complaint KPIs of a month", "On-time replies, overdue tickets, escalations, "
                                                               "satisfaction, by department, for one month."),
    ("GET", "/complaints/kpis.csv"): ("Export complaint KPIs (CSV)", "The month's KPIs as a CSV file."),
    ("GET", "/complaints/kpis.xlsx"): ("Export complaint KPIs (Excel)", "The month's KPIs as an Excel workbook."),
    ("POST", "/complaints/sms/inbound"): ("SMS gateway pushes a customer's SMS", ""),
    ("GET", "/complaints/{complaint_id}"): ("One complaint", "The ticket with why it has its level and due time "
                                                             "(with the calendar version), its department chain, "
                                                             "replies, notices and history."),
    ("POST", "/complaints/{complaint_id}/accept"): ("Department accepts a ticket",
                                                    "The handling department takes the ticket on."),
    ("POST", "/complaints/{complaint_id}/transfer"): ("Transfer a ticket", "To another department, with the reason; "
                                                                           "the due time keeps running."),
    ("POST", "/complaints/{complaint_id}/findings"): ("Add findings", "What the department found out, before it "
                                                                      "replies."),
    ("POST", "/complaints/{complaint_id}/reply"): ("Reply to the customer", "The qualified reply (findings, handling, "
                                                                            "words for the customer); on time or "
                                                                            "late against the due time."),
    ("POST", "/complaints/{complaint_id}/acceptance"): ("Record the customer's acceptance",
                                                        "Whether the customer accepted the reply; not accepted "
                                                        "reopens the ticket."),
    ("POST", "/complaints/{complaint_id}/escalate"): ("Escalate a ticket", "To the next level of supervision, with "
                                                                           "the reason."),
    ("POST", "/complaints/{complaint_id}/level"): ("Correct a ticket's level", ""),
    ("POST", "/complaints/{complaint_id}/fee-returns"): ("Request a fee return",
                                                         "Money back to the customer for a charge the complaint "
                                                         "found wrong; the rules decide single, double or none and "
                                                         "who must approve."),
    ("GET", "/complaints/{complaint_id}/fee-returns"): ("A complaint's fee returns", "Every fee return of the "
                                                                                     "ticket with its status."),
    ("POST", "/fee-returns/{fee_return_id}/approve"): ("Approve a fee return", "By the approver the amount's tier "
                                                                               "needs (team lead, manager); never by "
                                                                               "the person who asked for it."),
    ("POST", "/fee-returns/{fee_return_id}/reject"): ("Reject a fee return", "With the reason; nothing is credited."),
    ("POST", "/fee-returns/{fee_return_id}/audit"): ("Audit a fee return", "The auditor's check above 100 yuan, "
                                                                           "before the credit."),
    ("POST", "/fee-returns/{fee_return_id}/verification"): ("Verify a value-added service charge",
                                                            "Whether the service provider's subscription was "
                                                            "confirmed, before a return for it."),
    ("POST", "/fee-returns/{fee_return_id}/credit"): ("Credit an approved fee return", ""),
    ("POST", "/payments"): ("Record a payment", "A consumer's payment as the acquiring side saw it; refunds are "
                                                "asked against it."),
    ("GET", "/payments/{payment_id}"): ("One payment and its refunds", "What was paid, what is refunded or on the "
                                                                       "way, and what is left."),
    ("POST", "/refunds"): ("Request a refund", "Checked against the payment's balance and the channel's rules; the "
                                               "same merchant refund number twice returns the same refund. Its "
                                               "process (audit, send, query back) starts."),
    ("GET", "/refunds"): ("List refunds", "Refunds by status, channel, merchant or period; a merchant sees only its "
                                          "own."),
    ("POST", "/refunds/batch"): ("Request refunds in a batch", ""),
    ("GET", "/refunds/{refund_id}"): ("One refund and its history", "Status, the reason in plain words, every "
                                                                    "serial sent with its outcome, the history, and "
                                                                    "the process's live view."),
    ("POST", "/refunds/{refund_id}/{action}"): ("Act on a refund", ""),
    ("GET", "/refund-channels"): ("List payment channels", "Each channel's refund abilities and switches "
                                                           "(automatic audit, pre-debit, refund API)."),
    ("PUT", "/refund-channels/{channel_id}/auto-audit"): ("Switch a channel's automatic audit", ""),
    ("GET", "/refund-channels/{channel_id}/switches"): ("A channel's switch history", "Who switched what, when and "
                                                                                      "why."),
    ("GET", "/refund-error-mappings"): ("The channel error table", "How each channel's decline codes translate into "
                                                                   "our codes and the action taken (fail, new serial, "
                                                                   "resend, manual review)."),
    ("PUT", "/refund-error-mappings"): ("Set a channel error translation", ""),
    ("GET", "/refund-channels/{channel_id}/statements/{day}/reconciliation"): ("Reconcile a channel's daily "
                                                                               "statement", ""),
    ("GET", "/healthz"): ("Is the API up", "The database and Temporal as this API instance sees them; 503 when the "
                                           "database does not answer."),
    # agents: accounts, appeals, maintenance, suspension cases, reports
    ("POST", "/agents/{agent_id}/appeals/{appeal_id}/answer"): ("Answer an appeal", ""),
    ("POST", "/agents/{agent_id}/arrears-paid"): ("Finance reports arrears paid", ""),
    ("POST", "/agents/{agent_id}/attachments"): ("Upload an appeal's evidence", ""),
    ("GET", "/agents/{agent_id}/attachments/{attachment_id}"): (
        "Download an appeal's evidence", "One stored file of an appeal, as uploaded (PDF, PNG or JPEG); an agent "
                                         "reads only its own."),
    ("GET", "/agents/{agent_id}/inbox"): ("An agent's inbox", ""),
    ("POST", "/agents/{agent_id}/inbox/{notice_id}/read"): (
        "Mark an inbox notice read", "The agent has read this notice; it stays in the inbox, marked read."),
    ("GET", "/appeals"): ("The admins' appeal queue", ""),
    ("POST", "/maintenance-windows"): ("Announce a maintenance window", ""),
    ("GET", "/maintenance-windows"): ("Maintenance windows not yet over", ""),
    ("PATCH", "/maintenance-windows/{window_id}"): ("Move or cancel a maintenance window", ""),
    ("GET", "/suspension-cases"): ("Number suspension cases", ""),
    ("GET", "/suspension-cases/{case_id}"): (
        "One suspension case", "The case of a suspended number: its kind, recovery window, the steps the agent walks "
                               "the customer through, reminders, and whether it is overdue or restored."),
    ("POST", "/suspension-cases/{case_id}/trigger"): ("Record what triggered a risk-control hold", ""),
    ("GET", "/reports/suspension-cases/{month}.{fmt}"): ("Suspension cases of a month (CSV or XLSX)", ""),
    ("GET", "/reports/agent-accounts/{month}.{fmt}"): ("Agent accounts of a month (CSV or XLSX)", ""),
    # complaint desk: notices, special channels, refused credits
    ("GET", "/complaints/notices"): ("A department's notice inbox", ""),
    ("POST", "/complaints/notices/{notice_id}/acknowledge"): ("Acknowledge a notice", ""),
    ("GET", "/complaints/special-channels"): ("Special-channel complaints of a month", ""),
    ("GET", "/complaints/special-channels.csv"): (
        "Export special-channel complaints (CSV)", "The monthly special-channel report per department as a CSV file: "
                                                   "received, written replies, documents, and those still unanswered."),
    ("POST", "/complaints/{complaint_id}/documents"): ("Archive a document of a complaint", ""),
    ("GET", "/complaints/{complaint_id}/documents"): (
        "A complaint's archived documents", "The letters, faxes and scans archived with a special-channel complaint, "
                                            "with who uploaded each and when."),
    ("GET", "/complaints/{complaint_id}/documents/{document_id}"): (
        "Download an archived document", "One archived document of the complaint, as it was uploaded."),
    ("POST", "/complaints/{complaint_id}/written-reply"): ("Give a complaint its written reply", ""),
    ("GET", "/complaints/{complaint_id}/written-reply"): (
        "A complaint's written replies", "Every written reply of a special-channel complaint (process, background, "
                                         "measures, the customer's acceptance); the latest one counts."),
    ("POST", "/fee-returns/{fee_return_id}/retry-credit"): ("Ask billing again for a refused credit", ""),
    ("POST", "/fee-returns/{fee_return_id}/cancel-credit"): ("Give up a refused credit", ""),
    # refunds: loading a statement (the evidence overrides cite)
    ("POST", "/refund-channels/{channel_id}/statements/{day}"): ("Load a channel's daily statement", ""),
    # account cancellations
    ("POST", "/cancellations"): ("Start an account cancellation", ""),
    ("GET", "/cancellations"): (
        "List account cancellations", "Cancellations by state, carrier and month, newest first; the self-service "
                                      "app sees only the cases it started. Numbers are masked."),
    ("GET", "/cancellations/report"): ("Cancellations of a month", ""),
    ("GET", "/cancellations/report.csv"): (
        "Export the cancellations of a month (CSV)", "The monthly report as a CSV file: started, completed, "
                                                     "withdrawn, failed and open, and the obstacles found."),
    ("GET", "/cancellations/report.xlsx"): (
        "Export the cancellations of a month (XLSX)", "The monthly report as an XLSX workbook, numbers as numbers."),
    ("GET", "/cancellations/follow-ups"): ("Follow-up calls to make", ""),
    ("GET", "/cancellations/{cancellation_id}"): (
        "One cancellation and its to-do list", "The case with every obstacle still to clear (its reason, amount and "
                                               "how to clear it), its state and what it waits for."),
    ("GET", "/cancellations/{cancellation_id}/timeline"): ("A cancellation's progress, step by step", ""),
    ("POST", "/cancellations/{cancellation_id}/clear"): ("Clear an obstacle", ""),
    ("POST", "/cancellations/{cancellation_id}/documents"): (
        "Attest the customer's documents", "A clerk records that the documents were checked; the document review "
                                           "step of the cancellation is done."),
    ("POST", "/cancellations/{cancellation_id}/appointment"): ("Book a service-hall appointment", ""),
    ("POST", "/cancellations/{cancellation_id}/confirm"): ("Confirm the cancellation", ""),
    ("POST", "/cancellations/{cancellation_id}/withdraw"): ("Withdraw the cancellation", ""),
    ("POST", "/cancellations/{cancellation_id}/follow-up"): ("Record the follow-up call", ""),
    # delivery: the order-tracking table, the agents' figures, stale orders, rescue tasks
    ("GET", "/orders/tracking"): ("The order-tracking table",
                                  "Every order with each link's time: placed, accepted by the carrier, shipped (with "
                                  "the tracking number), signed, activated, first recharge, the check point and its "
                                  "answer, the carrier's audit; filter by agent, carrier, product, status, failure "
                                  "reason, month placed, stale. Agents see their own orders."),
    ("GET", "/orders/tracking.csv"): ("Export the order-tracking table (CSV)", "The same filters as the table."),
    ("GET", "/orders/tracking.xlsx"): ("Export the order-tracking table (Excel)",
                                       "The same rows as the CSV export; times in Shanghai wall-clock time."),
    ("GET", "/orders/kpis"): ("Agents' delivery figures of a month",
                              "Per agent, over the orders placed in the month (Shanghai): sign-for rate (signed / "
                              "shipped), activation rate (activated / signed), settlement rate (settled / activated), "
                              "with the counts. Agents see their own."),
    ("GET", "/orders/kpis.csv"): ("Export the agents' figures (CSV)", "The same rows as the agents' figures."),
    ("GET", "/orders/kpis.xlsx"): ("Export the agents' figures (Excel)", "The same rows as the agents' figures."),
    ("GET", "/orders/stale"): ("Stale orders",
                               "Orders with no news within a delivery window: no carrier acceptance, no shipment, or no "
                               "courier update while the parcel is out; the longest silent first."),
    ("GET", "/rescue-tasks"): ("Delivery rescue tasks",
                               "The tasks a delivery exception opened, with every contact attempt and its outcome, "
                               "the channels and times of day tried, and when the delivery fails without a "
                               "resolution. Agents see their own."),
    ("GET", "/rescue-tasks/{task_id}"): ("One delivery rescue task",
                                         "The task with its contact attempts, reminders, give-up time and close."),
    ("POST", "/rescue-tasks/{task_id}/contacts"): (
        "Record a contact attempt", "One attempt to reach the customer: when, by which channel (phone, SMS, WeChat), "
                                    "and its outcome."),
    ("POST", "/rescue-tasks/{task_id}/close"): (
        "Close a rescue task", "With its resolution: redelivery arranged or contact corrected (reminders stop; the "
                               "courier delivers again), or given up (the delivery fails at once). The order's process "
                               "is told; the same close again answers the task as it is."),

    # finance (docs/finance.md)
    ("GET", "/payout-exceptions"): ("List payout exceptions", "Payouts the bank refused or never answered, by state, "
                                                              "carrier, month or agent; the batch paid the others."),
    ("GET", "/payout-exceptions/{payout_id}"): ("One payout exception", "The payout with every step finance and the "
                                                                        "bank took, who and when."),
    ("POST", "/payout-exceptions/{payout_id}/retry"): ("Retry a payout", "Pay again under the same payout id (the "
                                                                         "bank pays it at most once), optionally to "
                                                                         "the agent's new bank account."),
    ("POST", "/payout-exceptions/{payout_id}/manual-payment"): ("Record a manual payment", ""),
    ("GET", "/settlements/{batch_id}/reconciliation"): ("Reconcile a batch with the carrier's audit",
                                                        "Each order whose audited commission differs from ours, with "
                                                        "its cause (rate change, rejected, partial audit, unknown "
                                                        "order), the figure paid, and the totals to the fen."),
    ("GET", "/settlements/{batch_id}/report.csv"): ("Export a batch report (CSV)",
                                                    "Header block and subtotals, orders, statements, differences, "
                                                    "payout exceptions and failures by reason."),
    ("GET", "/settlements/{batch_id}/report.xlsx"): ("Export a batch report (Excel)",
                                                     "The CSV report's tables, one sheet each, numbers as numbers."),
    ("GET", "/finance/month-end/{month}"): ("Month-end summary", "Per carrier: the batch, commission, paid, held, "
                                                                 "exceptions, payable, differences, and whether it "
                                                                 "balances to the fen."),
    ("GET", "/finance/month-end/{month}.csv"): ("Export the month-end summary (CSV)",
                                                "Header block and subtotals, then one row per carrier."),
    ("GET", "/finance/month-end/{month}.xlsx"): ("Export the month-end summary (Excel)",
                                                 "The CSV summary as a workbook, numbers as numbers."),
    ("POST", "/statements/{statement_id}/invoice"): ("Request an invoice", ""),
    ("GET", "/invoices"): ("List invoices", "Invoices by state, month or agent; an agent sees its own."),
    ("GET", "/invoices/{invoice_id}"): ("One invoice", "Its state, number, amounts, who decided, and whether the "
                                                      "mail reached the agent."),
    ("GET", "/invoices/{invoice_id}.pdf"): ("An invoice's PDF", ""),
    ("POST", "/invoices/{invoice_id}/issue"): ("Issue an invoice", "Finance gives it a number, the date and the tax; "
                                                                   "the PDF is mailed to the agent."),
    ("POST", "/invoices/{invoice_id}/refuse"): ("Refuse an invoice request", "With a reason, mailed to the agent; the "
                                                                             "agent may ask again."),
    ("POST", "/invoices/{invoice_id}/reissue"): ("Re-issue an invoice", ""),
    ("POST", "/invoices/{invoice_id}/mail"): ("Mail an invoice decision again", ""),
}

ERRORS = ("\n\nErrors answer `{\"status\", \"type\", \"reason\"}`: `type` is stable for programs, `reason` is for "
          "people; a refused request body adds `errors` per field.")


def install(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for path, methods in schema.get("paths", {}).items():
            for method, op in methods.items():
                summary, description = ROUTE_TEXTS.get((method.upper(), path), ("", ""))
                if summary:
                    op["summary"] = summary
                if description and not op.get("description"):
                    op["description"] = description
                if op.get("description") and any(code.startswith(("4", "5")) for code in op.get("responses", {})):
                    op["description"] += ERRORS
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
