"""Setting up a fresh Medusa 2 store for the pipelines, and reading it back, over its admin API.

Medusa's first boot makes a store (EUR), a default sales channel, a publishable key, a default
shipping profile and the manual fulfilment and system payment providers. Checkout also needs a
region (USD, the ERP's currency, in the US), a stock location linked to the sales channel and
to the manual provider, and a shipping fulfilment set with a service zone; shipping options
themselves come from the ERP's delivery modes (the delivery-and-stores pipeline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from .server import ADMIN_EMAIL, ADMIN_PASSWORD


@dataclass(frozen=True)
class MedusaStore:
    url: str
    api_key: str  # the secret key (sk_...) the pipelines use, as Basic auth with no password
    publishable_key: str
    sales_channel_id: str
    region_id: str
    location_id: str
    service_zone_id: str
    shipping_profile_id: str
    store_id: str

    def env(self) -> dict[str, str]:
        """The environment the pipelines in pipelines/medusa read."""
        return {
            "MEDUSA_URL": self.url,
            "MEDUSA_API_KEY": self.api_key,
            "MEDUSA_SALES_CHANNEL_ID": self.sales_channel_id,
            "MEDUSA_LOCATION_ID": self.location_id,
            "MEDUSA_SERVICE_ZONE_ID": self.service_zone_id,
            "MEDUSA_SHIPPING_PROFILE_ID": self.shipping_profile_id,
            "MEDUSA_REGION_ID": self.region_id,
        }


def _ok(reply: httpx.Response) -> dict[str, Any]:
    if reply.status_code >= 400:
        raise AssertionError(
            f"{reply.request.method} {reply.request.url.path}: {reply.status_code} {reply.text}"
        )
    return dict(reply.json())


def admin_client(url: str) -> httpx.Client:
    """An admin client authenticated with the admin user's JWT."""
    token = _ok(httpx.post(f"{url}/auth/user/emailpass",
                           json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                           timeout=30))["token"]
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def set_up_store(url: str) -> MedusaStore:
    with admin_client(url) as admin:
        secret = _ok(admin.post("/admin/api-keys", json={"title": "commerce-sync",
                                                          "type": "secret"}))["api_key"]
        publishable = _ok(admin.get("/admin/api-keys", params={"type": "publishable"}))
        pk = publishable["api_keys"][0]
        channel = _ok(admin.get("/admin/sales-channels"))["sales_channels"][0]
        _ok(admin.post(f"/admin/api-keys/{pk['id']}/sales-channels",
                       json={"add": [channel["id"]]}))
        store = _ok(admin.get("/admin/stores"))["stores"][0]
        _ok(admin.post(f"/admin/stores/{store['id']}", json={"supported_currencies": [
            {"currency_code": "usd", "is_default": True}, {"currency_code": "eur"},
        ]}))
        region = _ok(admin.post("/admin/regions", json={
            "name": "United States", "currency_code": "usd", "countries": ["us"],
            "payment_providers": ["pp_system_default"],
        }))["region"]
        profile = _ok(admin.get("/admin/shipping-profiles"))["shipping_profiles"][0]
        location = _ok(admin.post("/admin/stock-locations", json={
            "name": "Main distribution centre",
            "address": {"address_1": "1 Depot Rd", "city": "Austin", "country_code": "us"},
        }))["stock_location"]
        _ok(admin.post(f"/admin/stock-locations/{location['id']}/sales-channels",
                       json={"add": [channel["id"]]}))
        _ok(admin.post(f"/admin/stock-locations/{location['id']}/fulfillment-providers",
                       json={"add": ["manual_manual"]}))
        with_set = _ok(admin.post(
            f"/admin/stock-locations/{location['id']}/fulfillment-sets",
            params={"fields": "id,*fulfillment_sets"},
            json={"name": "Main DC shipping", "type": "shipping"},
        ))["stock_location"]
        fset = with_set["fulfillment_sets"][0]
        zone_set = _ok(admin.post(f"/admin/fulfillment-sets/{fset['id']}/service-zones", json={
            "name": "United States", "geo_zones": [{"type": "country", "country_code": "us"}],
        }))["fulfillment_set"]
        zone = zone_set["service_zones"][0]
        return MedusaStore(
            url=url, api_key=secret["token"], publishable_key=pk["token"],
            sales_channel_id=channel["id"], region_id=region["id"],
            location_id=location["id"], service_zone_id=zone["id"],
            shipping_profile_id=profile["id"], store_id=store["id"],
        )


def place_order(store: MedusaStore, skus: list[str], quantity: int = 1) -> dict[str, Any]:
    """Check out a cart of ``skus`` through the store API, as a storefront would: cart, address,
    shipping method, payment session (the system provider authorises at once), complete."""
    shop = httpx.Client(base_url=store.url, timeout=60,
                        headers={"x-publishable-api-key": store.publishable_key})
    admin = httpx.Client(base_url=store.url, auth=(store.api_key, ""), timeout=60)
    with shop, admin:
        variants = {}
        for sku in skus:
            found = _ok(admin.get("/admin/product-variants",
                                  params={"sku": sku, "fields": "id,sku"}))["variants"]
            assert found, f"no variant with sku {sku} in Medusa"
            variants[sku] = found[0]["id"]
        address = {"first_name": "Edda", "last_name": "Tester", "address_1": "2 Side St",
                   "city": "Austin", "province": "TX", "postal_code": "73301",
                   "country_code": "us"}
        cart = _ok(shop.post("/store/carts", json={
            "region_id": store.region_id, "sales_channel_id": store.sales_channel_id,
            "email": "edda@example.com", "shipping_address": address, "billing_address": address,
            "items": [{"variant_id": variants[s], "quantity": quantity} for s in skus],
        }))["cart"]
        options = _ok(shop.get("/store/shipping-options", params={"cart_id": cart["id"]}))
        assert options["shipping_options"], "the cart has no shipping option"
        _ok(shop.post(f"/store/carts/{cart['id']}/shipping-methods",
                      json={"option_id": options["shipping_options"][0]["id"]}))
        collection = _ok(shop.post("/store/payment-collections",
                                   json={"cart_id": cart["id"]}))["payment_collection"]
        _ok(shop.post(f"/store/payment-collections/{collection['id']}/payment-sessions",
                      json={"provider_id": "pp_system_default"}))
        done = _ok(shop.post(f"/store/carts/{cart['id']}/complete"))
        assert done.get("type") == "order", done
        return dict(done["order"])
