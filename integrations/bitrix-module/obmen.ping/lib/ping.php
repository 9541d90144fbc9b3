<?php
namespace Obmen\Ping;

/**
 * One ping: `{"event", "id", "order"}` as JSON, signed with HMAC-SHA256 under the shared secret and sent
 * in `X-Obmen-Signature: sha256=<hex>` (docs/protocols/site-rest.md §5). It carries keys only: obmen reads
 * the order itself through the site's REST.
 */
final class Ping
{
    public static function body(string $event, int $id, int $orderId): string
    {
        return json_encode(['event' => $event, 'id' => $id, 'order' => $orderId], JSON_UNESCAPED_SLASHES);
    }

    public static function signature(string $secret, string $body): string
    {
        return 'sha256=' . hash_hmac('sha256', $body, $secret);
    }

    /**
     * POST the ping; returns the HTTP status (0 when obmen could not be reached). A ping is never retried:
     * a lost one is caught by obmen's poll of the orders' modification dates.
     */
    public static function send(string $url, string $secret, string $body, int $timeout = 3): int
    {
        $http = new \Bitrix\Main\Web\HttpClient([
            'socketTimeout' => $timeout,
            'streamTimeout' => $timeout,
            'disableSslVerification' => false,
        ]);
        $http->setHeader('Content-Type', 'application/json');
        $http->setHeader('X-Obmen-Signature', self::signature($secret, $body));
        $http->setHeader('User-Agent', 'obmen.ping');
        $http->post($url, $body);
        return (int)$http->getStatus();
    }
}
