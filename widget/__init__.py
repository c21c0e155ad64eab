"""The Leadline widget: one page at /app/ (the conversation UI), also embedded in Zoho CRM as a widget."""
