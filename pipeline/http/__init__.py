"""The HTTP endpoint (`ordervault serve`): health, metrics, eBay account deletion."""
