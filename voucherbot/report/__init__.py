"""Reports: the model (:mod:`~voucherbot.report.model`, csv and json), one module per other
format (terminal, markdown, html with svg charts), the ledger history, and the run notification.
"""
