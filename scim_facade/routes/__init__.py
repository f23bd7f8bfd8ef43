"""SCIM resource routes, one module per resource type."""
