"""The embedded demo: a built-in motion and a sample clip rendered from Anny, so the product's main job runs on a
fresh machine with nothing downloaded."""
