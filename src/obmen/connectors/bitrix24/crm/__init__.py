"""The CRM part of the Bitrix24 connector: counterparties, deals with rows and invoices, users, leads."""
