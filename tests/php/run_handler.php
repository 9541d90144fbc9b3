<?php
/**
 * Installs obmen.ping into the kernel stub and fires the sale events as a save of an order would.
 *
 * php run_handler.php <module dir> <obmen url> <secret> <order id> <payment id> <shipment id>
 * Prints JSON: the handlers' results and every POST the background jobs made (status and answer).
 */
require __DIR__ . '/kernel_stub.php';

[$script, $moduleDir, $url, $secret, $orderId, $paymentId, $shipmentId] = $argv;

use Bitrix\Main\Application;
use Bitrix\Main\Config\Option;
use Bitrix\Main\Event;
use Bitrix\Main\EventManager;
use Bitrix\Main\Loader;

require $moduleDir . '/install/index.php';
$module = new obmen_ping();
$module->DoInstall();
Loader::registerModuleDir('obmen.ping', $moduleDir);
require $moduleDir . '/include.php';
Option::set('obmen.ping', 'url', $url);
Option::set('obmen.ping', 'secret', $secret);

$order = new Bitrix\Sale\Order((int)$orderId);
$results = [];
// What Order::save() raises, entities first: the shipments (the system one too), the payment, the order.
foreach ([
    ['OnSaleShipmentEntitySaved', new Bitrix\Sale\Shipment((int)$shipmentId + 1000, (int)$orderId, true)],
    ['OnSaleShipmentEntitySaved', new Bitrix\Sale\Shipment((int)$shipmentId, (int)$orderId)],
    ['OnSalePaymentEntitySaved', new Bitrix\Sale\Payment((int)$paymentId, (int)$orderId)],
    ['OnSaleOrderSaved', $order],
] as [$name, $entity]) {
    $params = ['ENTITY' => $entity, 'VALUES' => [], 'IS_NEW' => true];
    foreach (EventManager::getInstance()->send(new Event('sale', $name, $params)) as $result) {
        $results[] = [$name, $result->getType()];
    }
}
$ran = Application::getInstance()->runBackgroundJobs();
echo json_encode(['results' => $results, 'jobs' => $ran, 'sent' => Bitrix\Main\HttpClient_Log::$sent]), "\n";
