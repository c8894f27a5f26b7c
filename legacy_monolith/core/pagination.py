from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=N&page_size=M``: 20 per page by default, at most 100 (the catalog contract)."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
