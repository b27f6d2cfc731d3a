"""``otel-trainerhub report``: a spans file (``OTEL_TRAINERHUB_SPAN_FILE``) read back as
endpoints, findings grouped by where and what, and the waterfall of each finding's worst
trace; printed for a terminal (``text``) or written as one HTML page (``html``)."""
