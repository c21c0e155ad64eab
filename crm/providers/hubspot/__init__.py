"""HubSpot: OAuth connections per portal, the REST client with its rate budget (client.py, limits.py), the token
broker (tokens.py), settings (conf.py), the error family (errors.py) and the CrmProvider (provider.py)."""
