"""The catalog part of the Bitrix24 connector: sections, products, offers, prices, stores."""
