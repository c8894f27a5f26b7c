from rest_framework.routers import SimpleRouter

from legacy_monolith.orders.views import OrderViewSet

router = SimpleRouter()
router.register(r"orders", OrderViewSet, basename="order")

urlpatterns = router.urls
