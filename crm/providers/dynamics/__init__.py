"""Microsoft Dynamics 365 / Dataverse: one customer tenant's environment per connection (docs/crm/dynamics.md)."""
