"""The Dynamics 365 / Dataverse emulator: Microsoft Entra ID (tokens, consent, sign-in) under `/entra/` (and at
the root of the sandbox's HTTPS listener, as msal needs), and the Dataverse Web API of each environment under
`/dynamics/<environment>/api/data/v9.2/`. Vendor facts: docs/vendors/dynamics.md."""
