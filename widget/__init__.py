"""The Leadline widget: one page at /app/ (the conversation UI), also embedded in a CRM's record pages as a widget."""
