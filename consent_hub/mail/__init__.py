"""Mail over SMTP: multipart plain text + HTML, rendered from Jinja2 templates in nl/en/fr, sent
as the cluster's own sender (``[clusters.<name>.mail]``)."""
