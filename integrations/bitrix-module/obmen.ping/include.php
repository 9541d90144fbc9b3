<?php
/**
 * obmen.ping: tells obmen that an order, a payment or a shipment was saved (docs/site-module.md).
 *
 * The kernel includes this file when the module is loaded (\Bitrix\Main\Loader::includeModule), and the
 * handlers registered at install time (install/index.php) live in lib/handler.php.
 */

\Bitrix\Main\Loader::registerAutoLoadClasses('obmen.ping', [
    '\\Obmen\\Ping\\Handler' => 'lib/handler.php',
    '\\Obmen\\Ping\\Ping' => 'lib/ping.php',
]);
