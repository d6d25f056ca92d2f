"""Alerts to the on-call list: new high/critical security events, compliance requests overdue or about to be,
and (in Airflow) a night still unfinished by its deadline. Channels are connections (e-mail over SMTP,
webhooks such as Slack's); every delivery is recorded in ``alert_deliveries`` so nothing is sent twice."""
