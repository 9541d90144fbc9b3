<?php
use Bitrix\Main\EventManager;
use Bitrix\Main\ModuleManager;

/**
 * Installs obmen.ping: registers the module and binds its handlers to the sale module's events
 * (docs/site-module.md). The URL and the secret are module options (`url`, `secret`).
 */
class obmen_ping extends CModule
{
    public $MODULE_ID = 'obmen.ping';
    public $MODULE_VERSION;
    public $MODULE_VERSION_DATE;
    public $MODULE_NAME = 'obmen: уведомления о заказах / order pings';
    public $MODULE_DESCRIPTION = 'Сообщает obmen о сохранении заказа, оплаты и отгрузки / tells obmen when an order, a payment or a shipment is saved';
    public $PARTNER_NAME = 'obmen';

    /** The events and the handler methods bound to them. */
    public const EVENTS = [
        'OnSaleOrderSaved' => 'onOrderSaved',
        'OnSalePaymentEntitySaved' => 'onPaymentSaved',
        'OnSaleShipmentEntitySaved' => 'onShipmentSaved',
    ];

    public function __construct()
    {
        $arModuleVersion = [];
        include __DIR__ . '/version.php';
        $this->MODULE_VERSION = $arModuleVersion['VERSION'];
        $this->MODULE_VERSION_DATE = $arModuleVersion['VERSION_DATE'];
    }

    public function DoInstall()
    {
        ModuleManager::registerModule($this->MODULE_ID);
        $events = EventManager::getInstance();
        foreach (self::EVENTS as $name => $method) {
            $events->registerEventHandler('sale', $name, $this->MODULE_ID, '\\Obmen\\Ping\\Handler', $method);
        }
    }

    public function DoUninstall()
    {
        $events = EventManager::getInstance();
        foreach (self::EVENTS as $name => $method) {
            $events->unRegisterEventHandler('sale', $name, $this->MODULE_ID, '\\Obmen\\Ping\\Handler', $method);
        }
        \Bitrix\Main\Config\Option::delete($this->MODULE_ID);
        ModuleManager::unRegisterModule($this->MODULE_ID);
    }
}
