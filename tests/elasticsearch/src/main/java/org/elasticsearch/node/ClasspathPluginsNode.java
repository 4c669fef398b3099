package org.elasticsearch.node;

import java.util.Collection;

import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.MockPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

/**
 * A real node whose plugins are classes on the classpath instead of bundles in a modules/ directory
 * (Maven Central has the plugin jars, not the distribution's bundle layout).
 *
 * It lives in this package because the hooks it needs are package-private. It is not the test
 * framework's MockNode: that one reads ESTestCase, whose static setup refuses to run as root and
 * installs test-only bootstrap; and it swaps in mock services, where this keeps every real one.
 */
public class ClasspathPluginsNode extends Node {

    public ClasspathPluginsNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
        super(NodeConstruction.prepareConstruction(environment, null, new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment env, PluginsLoader ignored) {
                return new MockPluginsService(env.settings(), env, plugins);
            }
        }, false));
    }
}
