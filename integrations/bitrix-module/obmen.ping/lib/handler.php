<?php
namespace Obmen\Ping;

use Bitrix\Main\Application;
use Bitrix\Main\Config\Option;
use Bitrix\Main\Event;
use Bitrix\Main\EventResult;

/**
 * The sale module's event handlers (registered by install/index.php).
 *
 * `OnSaleOrderSaved` passes the order as `ENTITY` (with `VALUES` and `IS_NEW`, which a ping does not need);
 * `OnSalePaymentEntitySaved` and `OnSaleShipmentEntitySaved` pass the payment or the shipment, whose order
 * id the entity knows. The handler only queues the ping: it is sent after the page has been answered
 * (`Application::addBackgroundJob`), so a slow or absent obmen never slows the checkout down.
 */
final class Handler
{
    public const MODULE = 'obmen.ping';

    public static function onOrderSaved(Event $event): EventResult
    {
        $order = $event->getParameter('ENTITY');
        return self::queue('OnSaleOrderSaved', (int)$order->getId(), (int)$order->getId());
    }

    public static function onPaymentSaved(Event $event): EventResult
    {
        $payment = $event->getParameter('ENTITY');
        return self::queue('OnSalePaymentEntitySaved', (int)$payment->getId(), (int)$payment->getOrderId());
    }

    public static function onShipmentSaved(Event $event): EventResult
    {
        $shipment = $event->getParameter('ENTITY');
        if (method_exists($shipment, 'isSystem') && $shipment->isSystem()) {
            // The system shipment holds what is not shipped yet; its order's own event follows anyway.
            return new EventResult(EventResult::SUCCESS);
        }
        return self::queue('OnSaleShipmentEntitySaved', (int)$shipment->getId(), (int)$shipment->getOrderId());
    }

    private static function queue(string $name, int $id, int $orderId): EventResult
    {
        $url = (string)Option::get(self::MODULE, 'url', '');
        $secret = (string)Option::get(self::MODULE, 'secret', '');
        if ($url !== '' && $secret !== '' && $id > 0 && $orderId > 0) {
            $body = Ping::body($name, $id, $orderId);
            Application::getInstance()->addBackgroundJob(
                static function () use ($url, $secret, $body): void {
                    Ping::send($url, $secret, $body);
                }
            );
        }
        return new EventResult(EventResult::SUCCESS);
    }
}
