<?php
/**
 * Just enough of the 1C-Bitrix kernel to run the obmen.ping module as the kernel would: module install,
 * class autoloading, options, the event manager calling registered handlers with an Event, background jobs
 * run after the hit, and an HttpClient that really POSTs (to obmen on loopback).
 */

namespace Bitrix\Main {
    final class EventResult
    {
        public const SUCCESS = 1;
        public const ERROR = 2;
        public function __construct(public int $type = self::SUCCESS) {}
        public function getType(): int { return $this->type; }
    }

    final class Event
    {
        public function __construct(private string $module, private string $type, private array $parameters = []) {}
        public function getParameter(string $name) { return $this->parameters[$name] ?? null; }
        public function getEventType(): string { return $this->type; }
        public function getModuleId(): string { return $this->module; }
    }

    final class Application
    {
        private static ?Application $instance = null;
        private array $jobs = [];
        public static function getInstance(): Application { return self::$instance ??= new Application(); }
        public function addBackgroundJob(callable $job, array $args = [], int $priority = 0): void { $this->jobs[] = [$job, $args]; }
        /** What the kernel does once the response is sent. */
        public function runBackgroundJobs(): int
        {
            $ran = 0;
            while ($this->jobs) {
                [$job, $args] = array_shift($this->jobs);
                $job(...$args);
                $ran++;
            }
            return $ran;
        }
    }

    final class Loader
    {
        private static array $classes = [];
        private static array $dirs = [];
        public static function registerModuleDir(string $module, string $dir): void { self::$dirs[$module] = $dir; }
        public static function registerAutoLoadClasses(?string $module, array $classes): void
        {
            foreach ($classes as $class => $file) {
                self::$classes[strtolower(ltrim($class, '\\'))] = self::$dirs[$module] . '/' . $file;
            }
        }
        public static function autoload(string $class): void
        {
            $file = self::$classes[strtolower(ltrim($class, '\\'))] ?? null;
            if ($file !== null) {
                require_once $file;
            }
        }
    }
    spl_autoload_register([Loader::class, 'autoload']);

    final class ModuleManager
    {
        public static array $installed = [];
        public static function registerModule(string $id): void { self::$installed[$id] = true; }
        public static function unRegisterModule(string $id): void { unset(self::$installed[$id]); }
    }

    final class EventManager
    {
        private static ?EventManager $instance = null;
        public array $handlers = [];
        public static function getInstance(): EventManager { return self::$instance ??= new EventManager(); }
        public function registerEventHandler(string $from, string $event, string $module, string $class, string $method): void
        {
            $this->handlers[strtoupper($from . ':' . $event)][] = [$module, $class, $method];
        }
        public function unRegisterEventHandler(string $from, string $event, string $module, string $class, string $method): void
        {
            $key = strtoupper($from . ':' . $event);
            $this->handlers[$key] = array_values(array_filter(
                $this->handlers[$key] ?? [],
                static fn(array $h): bool => $h !== [$module, $class, $method]
            ));
        }
        /** The kernel's dispatch: include the handler's module, call Class::method($event), collect results. */
        public function send(Event $event): array
        {
            $results = [];
            foreach ($this->handlers[strtoupper($event->getModuleId() . ':' . $event->getEventType())] ?? [] as [$module, $class, $method]) {
                $results[] = call_user_func([$class, $method], $event);
            }
            return $results;
        }
    }

    final class HttpClient_Log
    {
        public static array $sent = [];
    }
}

namespace Bitrix\Main\Config {
    final class Option
    {
        private static array $values = [];
        public static function get(string $module, string $name, $default = '') { return self::$values[$module][$name] ?? $default; }
        public static function set(string $module, string $name, $value): void { self::$values[$module][$name] = $value; }
        public static function delete(string $module, array $filter = []): void { unset(self::$values[$module]); }
    }
}

namespace Bitrix\Main\Web {
    final class HttpClient
    {
        private array $headers = [];
        private int $status = 0;
        private string $result = '';
        public function __construct(private array $options = []) {}
        public function setHeader(string $name, string $value): void { $this->headers[$name] = $value; }
        public function post(string $url, $body = null): string|false
        {
            $lines = [];
            foreach ($this->headers as $name => $value) {
                $lines[] = "$name: $value";
            }
            $context = stream_context_create(['http' => [
                'method' => 'POST',
                'header' => implode("\r\n", $lines),
                'content' => (string)$body,
                'timeout' => $this->options['socketTimeout'] ?? 30,
                'ignore_errors' => true,
            ]]);
            $result = @file_get_contents($url, false, $context);
            $statusLine = $http_response_header[0] ?? '';
            $this->status = preg_match('#\s(\d{3})\s#', $statusLine . ' ', $m) ? (int)$m[1] : 0;
            $this->result = $result === false ? '' : $result;
            \Bitrix\Main\HttpClient_Log::$sent[] = ['url' => $url, 'status' => $this->status, 'body' => $this->result];
            return $result;
        }
        public function getStatus(): int { return $this->status; }
        public function getResult(): string { return $this->result; }
    }
}

namespace Bitrix\Sale {
    class Order
    {
        public function __construct(private int $id) {}
        public function getId(): int { return $this->id; }
    }
    class Payment
    {
        public function __construct(private int $id, private int $orderId) {}
        public function getId(): int { return $this->id; }
        public function getOrderId(): int { return $this->orderId; }
    }
    class Shipment
    {
        public function __construct(private int $id, private int $orderId, private bool $system = false) {}
        public function getId(): int { return $this->id; }
        public function getOrderId(): int { return $this->orderId; }
        public function isSystem(): bool { return $this->system; }
    }
}

namespace {
    class CModule {}
}
