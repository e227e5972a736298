<?php

/**
 * Converts one SAML 2.0 SP EntityDescriptor into a SimpleSAMLphp saml20-sp-remote.php file,
 * using SimpleSAMLphp's own metadata parser, so the test IdP trusts the SP the same way a
 * SimpleSAMLphp administrator's metadata converter would.
 *
 * Usage: php convert-sp-metadata.php <simplesamlphp-dir> <metadata.xml> <overrides.json> <output.php>
 *
 * The keys of overrides.json replace the parsed values (signing mode, NameID format).
 * SIMPLESAMLPHP_CONFIG_DIR must point at the harness's config folder.
 * Exits with status 1 and a message on stderr when the metadata is invalid or has no SP.
 */

declare(strict_types=1);

if ($argc !== 5) {
    fwrite(STDERR, "usage: php convert-sp-metadata.php <simplesamlphp-dir> <metadata.xml> <overrides.json> <output.php>\n");
    exit(2);
}
[, $simpleSamlPhpDir, $metadataPath, $overridesPath, $outputPath] = $argv;

require_once $simpleSamlPhpDir . '/lib/_autoload.php';

try {
    $xml = file_get_contents($metadataPath);
    if ($xml === false) {
        throw new RuntimeException("failed to read SP metadata file $metadataPath");
    }
    $overrides = json_decode((string) file_get_contents($overridesPath), true, 16, JSON_THROW_ON_ERROR);

    // The same checks and parser as the metadata converter page of SimpleSAMLphp 1.19.
    \SimpleSAML\Utils\XML::checkSAMLMessage($xml, 'saml-meta');
    $entities = \SimpleSAML\Metadata\SAMLParser::parseDescriptorsString($xml);

    $spEntries = [];
    foreach ($entities as $entityId => $parser) {
        $sp = $parser->getMetadata20SP();
        if ($sp !== null) {
            $spEntries[$entityId] = $sp;
        }
    }
    if (count($spEntries) !== 1) {
        throw new RuntimeException(
            'expected exactly one EntityDescriptor with a SAML 2.0 SPSSODescriptor, found ' . count($spEntries)
        );
    }

    $output = "<?php\n";
    foreach ($spEntries as $entityId => $sp) {
        // Like the converter page: the DOM copy is unused, and an expiry from validUntil or
        // cacheDuration would make SimpleSAMLphp drop the entry during a long test run.
        unset($sp['entityDescriptor'], $sp['expire']);
        $sp = array_replace($sp, $overrides);
        $output .= '$metadata[' . var_export($entityId, true) . '] = ' . var_export($sp, true) . ";\n";
    }
    if (file_put_contents($outputPath, $output) === false) {
        throw new RuntimeException("failed to write $outputPath");
    }
    fwrite(STDOUT, json_encode(['entityIds' => array_keys($spEntries)]) . "\n");
} catch (Throwable $e) {
    fwrite(STDERR, 'SP metadata conversion failed: ' . get_class($e) . ': ' . $e->getMessage() . "\n");
    exit(1);
}
