"""obmen: two-way, near-real-time sync of 1C:Enterprise, a 1C-Bitrix site and Bitrix24 CRM."""

__version__ = "0.1.0"
