"""Money coming in: promo codes (and, as they land, payments)."""
