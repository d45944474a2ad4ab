"""commerce-sync: declarative, config-driven sync between a back-office ERP and an online store."""

__version__ = "0.1.0"
